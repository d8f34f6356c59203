fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::qa::Opts>();
    vinyl::cli::main("vinyl-qa", vinyl::qa::run(opts))
}
