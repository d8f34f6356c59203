fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::rec::Opts>();
    vinyl::cli::main("vinyl-rec", vinyl::rec::run(opts))
}
