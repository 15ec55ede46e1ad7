use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let input = jaq_json::read::parse_single(args[2].as_bytes()).unwrap();
    let program = File { code: args[1].as_str(), path: () };
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader.load(&arena, program).unwrap();
    let filter = Compiler::default().with_funs(funs).compile(modules).unwrap();
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    for out in filter.id.run((ctx, input)).map(unwrap_valr) { println!("{:?}", out.map(|v| v.to_string()).map_err(|e| e.to_string())); }
}
