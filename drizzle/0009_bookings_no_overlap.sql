-- Double booking is impossible in the database itself: no two active bookings of one provider
-- may take overlapping time (the visit plus the service's buffer). Needs btree_gist (0000).
ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap
  EXCLUDE USING gist (provider_id WITH =, tstzrange(blocks_from, blocks_until, '[)') WITH &&)
  WHERE (status IN ('pending', 'confirmed'));
