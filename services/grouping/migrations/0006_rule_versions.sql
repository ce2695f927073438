-- Each project's grouping rules as they changed, by the time each change was
-- decided: an event is grouped with the version in effect when it was
-- received, so a backlog grouped after a change groups as a replay does.
-- project_rules stays the current version, for readers.
CREATE TABLE grouping.rule_versions (
    project_id        bigint NOT NULL,
    valid_from        timestamptz NOT NULL, -- 'epoch': since always
    stack_rules       text NOT NULL DEFAULT '',
    fingerprint_rules text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, valid_from)
);
-- Rules set before decisions were recorded have held since always, as a
-- replay takes them; rules set by a decision hold from its time.
INSERT INTO grouping.rule_versions (project_id, valid_from, stack_rules, fingerprint_rules)
SELECT r.project_id,
       CASE WHEN EXISTS (SELECT 1 FROM grouping.decisions d WHERE d.project_id = r.project_id AND d.kind = 'set_rules')
            THEN r.updated_at ELSE 'epoch' END,
       r.stack_rules, r.fingerprint_rules
FROM grouping.project_rules r;
