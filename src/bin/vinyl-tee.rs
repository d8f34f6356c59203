fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::tee::Opts>();
    vinyl::cli::main("vinyl-tee", vinyl::tee::run(opts))
}
