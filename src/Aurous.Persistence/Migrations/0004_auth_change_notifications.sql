-- The API caches API-key lookups in memory; every change that could alter what authentication sees (a key's state,
-- scopes or grace period, a team's API version or rate limits) notifies channel 'aurous_auth' with the team id, so
-- every API instance drops that team's cached keys. pg_notify is transactional: it fires on commit, once per distinct
-- payload, so a bulk update of one team's keys is one notification. '*' means "drop everything".

CREATE FUNCTION notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('aurous_auth', '*');
    ELSIF TG_TABLE_NAME = 'teams' THEN
        PERFORM pg_notify('aurous_auth', OLD.id);
    ELSE
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('aurous_auth', OLD.team_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('aurous_auth', NEW.team_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_notify_auth AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
CREATE TRIGGER api_keys_truncate_notify_auth AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION notify_auth_change();
CREATE TRIGGER teams_notify_auth AFTER UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
