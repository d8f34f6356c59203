fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::listen::Opts>();
    vinyl::cli::main("vinyl-listen", vinyl::listen::run(opts))
}
