using Npgsql;

namespace Aurous.Accounts;

/// <summary>
/// Connection settings for a process that runs the ledger's statements at request rate (the API, and the ledger bench
/// that measures them the same way).
/// </summary>
public static class AccountsDataSource
{
    public static void Configure(NpgsqlConnectionStringBuilder settings)
    {
        // Statements used twice or more are prepared, so each one (each batch shape of the group commit included) is
        // parsed and planned once per connection.
        settings.MaxAutoPrepare = 64;
        settings.AutoPrepareMinUsages = 2;
        // A connection taken from the pool is used as it was left. Without this, every return to the pool makes the
        // next use send seven reset statements first (RESET ALL, CLOSE ALL, UNLISTEN *, DISCARD TEMP...), parsed
        // afresh each time: each group-commit batch takes a pooled connection, so that was a fixed cost on every
        // batch. Nothing in these processes leaves session state behind: settings are transaction-local
        // (set_config(..., true)), an unfinished transaction is still rolled back when its connection is returned,
        // there are no cursors, temporary tables or advisory locks, and the API-key listener undoes its LISTEN and
        // application_name itself before it gives its connection back (or has the connection discarded if it cannot).
        settings.NoResetOnClose = true;
    }
}
