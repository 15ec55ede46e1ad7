//! The guard that bounds a running jq program: every definition body, every
//! `reduce`/`foreach` step and every element collected by `[...]` goes
//! through the native [`TICK`] filter, which fails once the time limit has
//! passed or the program recurses too deeply.

use super::Data;
use jaq_core::box_iter::box_once;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::Part;
use jaq_core::{Cv, Exn, Native, ValXs};
use jaq_json::Val;
use std::cell::Cell;
use std::time::Instant;

/// Name of the native guard filter prefixed to every definition body.
pub(super) const TICK: &str = "__baton_tick";
/// Prefix of names reserved for the sandbox.
pub(super) const RESERVED_PREFIX: &str = "__baton_";

/// Stack a program may use through nested definition calls before it is
/// stopped; the rest of the worker stack is headroom for jaq's own recursion
/// (deeply nested values, parsing).
const MAX_RECURSION_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Prefixes the body of every definition in `term` with a [`TICK`] call.
pub(super) fn instrument(term: &mut Term<&str>) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(t) = part {
                    instrument(t);
                }
            }
        }
        Term::Arr(t) => {
            if let Some(t) = t {
                instrument(t);
                // Collecting `[f]` checks the limits after every element.
                let inner = std::mem::take(&mut **t);
                **t = Term::BinOp(Box::new(inner), BinaryOp::Pipe(None), Box::new(tick_call()));
            }
        }
        Term::Obj(entries) => {
            for (k, v) in entries {
                instrument(k);
                if let Some(v) = v {
                    instrument(v);
                }
            }
        }
        Term::Neg(t) | Term::Label(_, t) => instrument(t),
        Term::BinOp(l, op, r) => {
            if let BinaryOp::Pipe(Some(pattern)) = op {
                instrument_pattern(pattern);
            }
            instrument(l);
            instrument(r);
        }
        Term::Fold(_, xs, pattern, args) => {
            instrument(xs);
            instrument_pattern(pattern);
            args.iter_mut().for_each(instrument);
            // `reduce`/`foreach` check the limits at every step (update and
            // extraction; the first argument is the initial value).
            for arg in args.iter_mut().skip(1) {
                prefix_tick(arg);
            }
        }
        Term::TryCatch(t, catch) => {
            instrument(t);
            if let Some(c) = catch {
                instrument(c);
            }
        }
        Term::IfThenElse(branches, else_) => {
            for (cond, then) in branches {
                instrument(cond);
                instrument(then);
            }
            if let Some(e) = else_ {
                instrument(e);
            }
        }
        Term::Def(defs, t) => {
            defs.iter_mut().for_each(instrument_def);
            instrument(t);
        }
        Term::Call(_, args) => args.iter_mut().for_each(instrument),
        Term::Path(t, path) => {
            instrument(t);
            for (part, _) in &mut path.0 {
                match part {
                    Part::Index(i) => instrument(i),
                    Part::Range(from, upto) => {
                        if let Some(from) = from {
                            instrument(from);
                        }
                        if let Some(upto) = upto {
                            instrument(upto);
                        }
                    }
                }
            }
        }
    }
}

fn instrument_pattern(pattern: &mut Pattern<&str>) {
    match pattern {
        Pattern::Var(_) => {}
        Pattern::Arr(items) => items.iter_mut().for_each(instrument_pattern),
        Pattern::Obj(entries) => {
            for (k, p) in entries {
                instrument(k);
                instrument_pattern(p);
            }
        }
    }
}

pub(super) fn instrument_def(def: &mut Def<&str>) {
    instrument(&mut def.body);
    prefix_tick(&mut def.body);
}

fn tick_call<'s>() -> Term<&'s str> {
    Term::Call(TICK, Vec::new())
}

/// Turns `t` into `__baton_tick | t` (same outputs, paths and tail calls).
fn prefix_tick(term: &mut Term<&str>) {
    let inner = std::mem::take(term);
    *term = Term::BinOp(Box::new(tick_call()), BinaryOp::Pipe(None), Box::new(inner));
}

/// The first definition in `term` whose name is reserved, if any.
pub(super) fn reserved_definition<'s>(term: &Term<&'s str>) -> Option<&'s str> {
    let mut found = None;
    visit_defs(term, &mut |def| {
        if found.is_none() && def.name.starts_with(RESERVED_PREFIX) {
            found = Some(def.name);
        }
    });
    found
}

fn visit_defs<'s>(term: &Term<&'s str>, f: &mut dyn FnMut(&Def<&'s str>)) {
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(t) = part {
                    visit_defs(t, f);
                }
            }
        }
        Term::Arr(t) => {
            if let Some(t) = t {
                visit_defs(t, f);
            }
        }
        Term::Obj(entries) => {
            for (k, v) in entries {
                visit_defs(k, f);
                if let Some(v) = v {
                    visit_defs(v, f);
                }
            }
        }
        Term::Neg(t) | Term::Label(_, t) => visit_defs(t, f),
        Term::BinOp(l, _, r) => {
            visit_defs(l, f);
            visit_defs(r, f);
        }
        Term::Fold(_, xs, _, args) => {
            visit_defs(xs, f);
            args.iter().for_each(|a| visit_defs(a, f));
        }
        Term::TryCatch(t, catch) => {
            visit_defs(t, f);
            if let Some(c) = catch {
                visit_defs(c, f);
            }
        }
        Term::IfThenElse(branches, else_) => {
            for (cond, then) in branches {
                visit_defs(cond, f);
                visit_defs(then, f);
            }
            if let Some(e) = else_ {
                visit_defs(e, f);
            }
        }
        Term::Def(defs, t) => {
            for def in defs {
                f(def);
                visit_defs(&def.body, f);
            }
            visit_defs(t, f);
        }
        Term::Call(_, args) => args.iter().for_each(|a| visit_defs(a, f)),
        Term::Path(t, path) => {
            visit_defs(t, f);
            for (part, _) in &path.0 {
                match part {
                    Part::Index(i) => visit_defs(i, f),
                    Part::Range(from, upto) => {
                        for t in [from, upto].into_iter().flatten() {
                            visit_defs(t, f);
                        }
                    }
                }
            }
        }
    }
}

/// Which limit a program hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trip {
    Time,
    Stack,
}

/// Limits of the evaluation running on this (worker) thread.
#[derive(Debug, Clone, Copy)]
struct Budget {
    deadline: Option<Instant>,
    stack_base: usize,
    tripped: Option<Trip>,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Approximate current stack position (address of a local).
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Starts guarding an evaluation on this thread.
pub(super) fn enter(deadline: Option<Instant>) {
    BUDGET.with(|cell| {
        cell.set(Some(Budget {
            deadline,
            stack_base: stack_position(),
            tripped: None,
        }))
    });
}

/// Stops guarding the evaluation on this thread; returns the limit it hit.
pub(super) fn leave() -> Option<Trip> {
    BUDGET.with(|cell| cell.take()).and_then(|b| b.tripped)
}

/// Checks the limits of the current evaluation; a trip is sticky.
fn tick() -> Result<(), Trip> {
    BUDGET.with(|cell| {
        let Some(mut budget) = cell.get() else {
            return Ok(());
        };
        if let Some(trip) = budget.tripped {
            return Err(trip);
        }
        let trip = if budget.stack_base.abs_diff(stack_position()) > MAX_RECURSION_STACK_BYTES {
            Some(Trip::Stack)
        } else if budget.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Trip::Time)
        } else {
            None
        };
        match trip {
            Some(trip) => {
                budget.tripped = Some(trip);
                cell.set(Some(budget));
                Err(trip)
            }
            None => Ok(()),
        }
    })
}

fn trip_exception<'a>(trip: Trip) -> Exn<'a, Val> {
    let message = match trip {
        Trip::Time => "time limit exceeded",
        Trip::Stack => "recursion too deep",
    };
    Exn::from(jaq_core::Error::str(message))
}

fn tick_run<'a>(cv: Cv<'a, Data>) -> ValXs<'a, Val> {
    box_once(tick().map(|()| cv.1).map_err(trip_exception))
}

/// The [`TICK`] filter: identity (also in path and update mode) that fails
/// when a limit is hit.
pub(super) fn tick_fun() -> jaq_core::native::Fun<Data> {
    let native = Native::<Data>::new(tick_run)
        .with_paths(|cv| box_once(tick().map(|()| cv.1).map_err(trip_exception)))
        .with_update(|cv, f| match tick() {
            Ok(()) => f(cv.1),
            Err(trip) => box_once(Err(trip_exception(trip))),
        });
    (TICK, Box::new([]), native)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_outside_an_evaluation_is_identity() {
        assert_eq!(tick(), Ok(()));
    }
}
