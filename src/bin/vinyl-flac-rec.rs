use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::flacrec::Opts::parse();
    vinyl::cli::main("vinyl-flac-rec", vinyl::flacrec::run(opts))
}
