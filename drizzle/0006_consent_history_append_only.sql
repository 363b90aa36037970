-- Consent history is never rewritten: UPDATE is rejected. Rows are deleted only when the
-- person is erased (GDPR Art. 17), which removes the whole history with her account data.
CREATE OR REPLACE FUNCTION consent_records_reject_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'consent_records is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
  FOR EACH ROW EXECUTE FUNCTION consent_records_reject_update();
--> statement-breakpoint
-- The first version of each notice, so every deployment can record consent from its first start.
INSERT INTO consent_notices (id, purpose, version, title, body, created_by, published_at) VALUES
  ('019ab700-0000-7000-8000-000000000001', 'data_processing', 1, 'Running your account',
   'We process your account details (email, optional name and phone, settings) to run the service you signed up for. This is needed for the account to exist; you can erase your account at any time.', NULL, '2026-11-24T00:00:00Z'),
  ('019ab700-0000-7000-8000-000000000002', 'whatsapp', 1, 'WhatsApp reminders',
   'We send the reminders you set up to your phone number over WhatsApp, through our messaging provider. Turn this off at any time and no further WhatsApp message is sent.', NULL, '2026-11-24T00:00:00Z'),
  ('019ab700-0000-7000-8000-000000000003', 'marketing', 1, 'News and offers',
   'We send you occasional news and offers about Care Platform services. Turn this off at any time.', NULL, '2026-11-24T00:00:00Z'),
  ('019ab700-0000-7000-8000-000000000004', 'analytics', 1, 'Product analytics',
   'We record how the product is used, under a pseudonymous id and without personal details, to improve it. Turn this off at any time; past events can then no longer be linked to you.', NULL, '2026-11-24T00:00:00Z');
