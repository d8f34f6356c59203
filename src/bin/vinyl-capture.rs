use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::capture::Opts::parse();
    vinyl::cli::main("vinyl-capture", vinyl::capture::run(opts))
}
