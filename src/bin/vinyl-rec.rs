use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::rec::Opts::parse();
    vinyl::cli::main("vinyl-rec", vinyl::rec::run(opts))
}
