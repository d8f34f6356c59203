fn main() -> std::process::ExitCode {
    let opts = vinyl::args::parse::<vinyl::mqtt::Opts>();
    vinyl::cli::main("vinyl-mqtt", vinyl::mqtt::run(opts))
}
