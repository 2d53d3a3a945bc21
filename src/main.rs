//! Entry point: hands the command line to [`tastevin::cli`].

/// The static (musl) binary the scratch image ships uses mimalloc: musl's own allocator
/// serialises every allocation and costs about half of `/mutate`'s throughput.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tastevin::cli::main(&args));
}
