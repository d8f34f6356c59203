fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::capture::Opts>();
    vinyl::cli::main("vinyl-capture", vinyl::capture::run(opts))
}
