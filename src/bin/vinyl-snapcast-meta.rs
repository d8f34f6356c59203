fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::snapcast::Opts>();
    vinyl::cli::main("vinyl-snapcast-meta", vinyl::snapcast::run(opts))
}
