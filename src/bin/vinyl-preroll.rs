use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::preroll::Opts::parse();
    vinyl::cli::main("vinyl-preroll", vinyl::preroll::run(opts))
}
