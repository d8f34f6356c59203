use clap::Parser;

fn main() -> std::process::ExitCode {
    let opts = vinyl::mp3icecast::Opts::parse();
    vinyl::cli::main("vinyl-mp3-icecast", vinyl::mp3icecast::run(opts))
}
