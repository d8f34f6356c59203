fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::mp3icecast::Opts>();
    vinyl::cli::main("vinyl-mp3-icecast", vinyl::mp3icecast::run(opts))
}
