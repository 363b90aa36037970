-- The first notice of the SMS purpose, so text messages can be agreed to from the first start.
INSERT INTO consent_notices (id, purpose, version, title, body, created_by, published_at) VALUES
  ('019ad500-0000-7000-8000-000000000005', 'sms', 1, 'Text messages (SMS)',
   'We send booking updates and the reminders you set up to your phone number as text messages, through our SMS provider (Twilio), when an app notification cannot reach you. Turn this off at any time and no further text message is sent.', NULL, '2026-11-30T00:00:00Z')
ON CONFLICT DO NOTHING;
