fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::web::Opts>();
    vinyl::cli::main("vinyl-web", vinyl::web::run(opts))
}
