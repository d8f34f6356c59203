fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::library::Opts>();
    vinyl::cli::main("vinyl-library", vinyl::library::run(opts))
}
