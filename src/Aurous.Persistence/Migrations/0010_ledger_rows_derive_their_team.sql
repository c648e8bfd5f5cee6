-- The money path writes a hold, a ledger entry and a receipt for every metered request. Each of those rows takes its
-- team from the team's balance row locked in the same statement (and a receipt its ledger entry from the entry that
-- statement inserts), so the team and the entry exist by construction; grants insert from the balance row as well.
-- The per-row foreign-key checks repeated what the statement already guarantees, at about a third of the ledger's
-- statement time, so they go. Teams are never deleted, and team_balances keeps its own key to teams.
ALTER TABLE credit_holds   DROP CONSTRAINT credit_holds_team_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_team_id_fkey;
ALTER TABLE usage_receipts DROP CONSTRAINT usage_receipts_team_id_fkey;
ALTER TABLE usage_receipts DROP CONSTRAINT usage_receipts_ledger_entry_id_fkey;
