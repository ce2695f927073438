-- Sweeping an object after a delete asks whether any file still refers
-- to it.
CREATE INDEX files_object ON sourcemaps.files (object);
