//! Entry point: hands the command line to [`tastevin::cli`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tastevin::cli::main(&args));
}
