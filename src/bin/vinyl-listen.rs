use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::listen::Opts::parse();
    vinyl::cli::main("vinyl-listen", vinyl::listen::run(opts))
}
