use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::tee::Opts::parse();
    vinyl::cli::main("vinyl-tee", vinyl::tee::run(opts))
}
