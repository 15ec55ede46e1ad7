//! A bare sandbox worker, for this crate's integration tests: the `baton`
//! binary runs the same loop as `baton __script-worker`.

fn main() {
    std::process::exit(baton_script::sandbox::run_worker());
}
