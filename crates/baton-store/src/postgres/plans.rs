//! The plan settings of Baton's PostgreSQL sessions and transactions (ADR 29).

use crate::Result;

/// Every statement Baton runs is built around an index (ids, queue order, due times, search
/// keys), and a connection keeps each statement's generic plan for its lifetime. A plan made
/// while a table was small may be a sequential scan, and without a fresh ANALYZE nothing
/// replaces it as the table grows: each keyed write then reads the whole table, dead rows
/// included. Disabling sequential scans for Baton's sessions keeps those plans on their
/// indexes whatever the table's size when they were made; a statement with no index to use
/// still scans (ADR 29). Such a scan is then costed as disabled (10^10), far above
/// `jit_above_cost`: JIT is off too, or each of them (the sum of the kept counts of an
/// unfiltered search, 28 rows) would compile its plan first, 40 to 150 ms.
pub(super) fn keep_index_plans(config: &mut tokio_postgres::Config) {
    const PLANS: &str = "-c enable_seqscan=off -c jit=off";
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {PLANS}"),
        _ => PLANS.to_string(),
    };
    config.options(&options);
}

/// Makes the transaction's statements run on their generic plans (ADR 29, second
/// amendment): the claim and the group commit run the same few statements thousands of times
/// a minute, and with the default `plan_cache_mode` PostgreSQL keeps planning several of them
/// anew at every execution (a custom plan looks cheaper to it than the generic one), which
/// cost up to 0.7 ms per statement at 100,000 executions. Their generic plans stay on their
/// indexes (`enable_seqscan=off`; `tests/postgres_plans.rs` runs them generically). Scoped
/// to the transaction: searches, whose plans depend on the values they bind, keep the
/// default.
pub(super) async fn generic_plans(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::keep_index_plans;

    #[test]
    fn sessions_plan_on_indexes_without_jit() {
        let mut config = tokio_postgres::Config::new();
        keep_index_plans(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c enable_seqscan=off -c jit=off")
        );
        let mut config = tokio_postgres::Config::new();
        config.options("-c statement_timeout=5s");
        keep_index_plans(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=5s -c enable_seqscan=off -c jit=off")
        );
    }
}
