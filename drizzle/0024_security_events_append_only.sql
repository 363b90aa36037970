-- Security events are evidence: a row is never rewritten. The one change allowed is detaching an
-- erased person's id (user_id to NULL, nothing else). Retention deletes rows past their days.
CREATE OR REPLACE FUNCTION security_events_reject_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
     AND ROW(NEW.id, NEW.occurred_at, NEW.type, NEW.severity, NEW.rule, NEW.location, NEW.sample, NEW.action,
             NEW.points, NEW.ip, NEW.method, NEW.route, NEW.correlation_id)
         IS NOT DISTINCT FROM
         ROW(OLD.id, OLD.occurred_at, OLD.type, OLD.severity, OLD.rule, OLD.location, OLD.sample, OLD.action,
             OLD.points, OLD.ip, OLD.method, OLD.route, OLD.correlation_id) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'security_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
  FOR EACH ROW EXECUTE FUNCTION security_events_reject_update();
--> statement-breakpoint
CREATE TRIGGER security_events_no_truncate BEFORE TRUNCATE ON security_events
  FOR EACH STATEMENT EXECUTE FUNCTION security_events_reject_update();
