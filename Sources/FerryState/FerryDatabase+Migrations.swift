import GRDB

extension FerryDatabase {
    /// The schema, as ordered migrations. Never edit a shipped migration: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: blobs, manifests, images") { db in
            try db.create(table: "blobs") { t in
                t.primaryKey("digest", .text)
                t.column("size", .integer).notNull()
                t.column("media_type", .text).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("bytes_done", .integer).notNull().defaults(to: 0)
                t.column("error_code", .text)
                t.column("error_message", .text)
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "manifests") { t in
                t.primaryKey("digest", .text)
                t.column("media_type", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("bytes", .blob).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "images") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("reference", .text).notNull()
                t.column("platform", .text).notNull()
                t.column("registry", .text).notNull()
                t.column("repository", .text).notNull()
                t.column("tag", .text)
                t.column("top_digest", .text)
                t.column("manifest_digest", .text)
                t.column("served_digest", .text)
                t.column("resolved_platform", .text)
                t.column("state", .text).notNull().indexed()
                t.column("error_code", .text)
                t.column("error_message", .text)
                t.column("size", .integer).notNull().defaults(to: 0)
                t.column("requested_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("fetched_at", .datetime)
                t.uniqueKey(["reference", "platform"])
            }
            try db.create(index: "images_by_repository", on: "images", columns: ["registry", "repository", "tag"])
            try db.create(table: "image_blobs") { t in
                t.column("image_id", .integer).notNull().references("images", onDelete: .cascade)
                t.column("digest", .text).notNull().references("blobs").indexed()
                t.column("position", .integer).notNull()
                t.primaryKey(["image_id", "digest"])
            }
            try db.create(table: "image_manifests") { t in
                t.column("image_id", .integer).notNull().references("images", onDelete: .cascade)
                t.column("digest", .text).notNull().references("manifests").indexed()
                t.column("position", .integer).notNull()
                t.primaryKey(["image_id", "digest"])
            }
        }
        migrator.registerMigration("v2: nodes, installs, install targets") { db in
            try db.create(table: "nodes") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("address", .text)
                t.column("platform", .text).notNull()
                t.column("credential_hash", .text).notNull().unique()
                t.column("joined_at", .datetime).notNull()
                t.column("last_seen", .datetime).notNull()
                t.column("docker_version", .text)
                t.column("docker_error", .text)
            }
            try db.create(table: "installs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("state", .text).notNull().indexed()
                t.column("max_parallel", .integer).notNull()
                t.column("platform", .text)
                t.column("deadline_at", .datetime)
                t.column("created_at", .datetime).notNull()
                t.column("finished_at", .datetime)
            }
            try db.create(table: "install_targets") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("install_id", .integer).notNull().references("installs", onDelete: .cascade).indexed()
                t.column("node_id", .integer).notNull().references("nodes", onDelete: .cascade).indexed()
                t.column("image_id", .integer).notNull().references("images").indexed()
                t.column("position", .integer).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("bytes_done", .integer).notNull().defaults(to: 0)
                t.column("bytes_total", .integer).notNull().defaults(to: 0)
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("error_code", .text)
                t.column("error_message", .text)
                t.column("note", .text)
                t.column("started_at", .datetime)
                t.column("finished_at", .datetime)
                t.column("updated_at", .datetime).notNull()
                t.uniqueKey(["install_id", "node_id", "image_id"])
            }
        }
        migrator.registerMigration("v3: join tokens, removed nodes") { db in
            try db.create(table: "join_tokens") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("secret_hash", .text).notNull().unique()
                t.column("description", .text).notNull().defaults(to: "")
                t.column("from_file", .boolean).notNull().defaults(to: false)
                t.column("created_at", .datetime).notNull()
                t.column("expires_at", .datetime)
                t.column("max_uses", .integer)
                t.column("uses", .integer).notNull().defaults(to: 0)
                t.column("last_used_at", .datetime)
                t.column("revoked_at", .datetime)
            }
            // A removed node keeps its row (the history of its installs) under a name no node can
            // join with, so that its own name is free again.
            try db.alter(table: "nodes") { t in t.add(column: "removed_at", .datetime) }
        }
        migrator.registerMigration("v4: rollouts (leader), container switch records (follower)") { db in
            // A rollout's whole state machine (FerryPolicy.RolloutState) as JSON, rewritten after
            // every event; the phase apart for listing.
            try db.create(table: "rollouts") { t in
                t.primaryKey("id", .text)
                t.column("image", .text).notNull()
                t.column("phase", .text).notNull().indexed()
                t.column("state_json", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            // A follower's container switch in progress (FerryDocker.SwitchRecord), by container name.
            try db.create(table: "container_switches") { t in
                t.primaryKey("name", .text)
                t.column("rollout", .text).notNull()
                t.column("record_json", .text).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            // Containers a rollout replaced on a follower: what its rollback returns to.
            try db.create(table: "replaced_containers") { t in
                t.column("rollout", .text).notNull()
                t.column("name", .text).notNull()
                t.column("old_image_id", .text).notNull()
                t.column("entry_json", .text).notNull()
                t.column("replaced_at", .datetime).notNull()
                t.primaryKey(["rollout", "name"])
            }
        }
        migrator.registerMigration("v5: node certificates and their revocation") { db in
            // The serial and expiry of the certificate the leader last issued each node (nil for
            // nodes that joined before they were recorded).
            try db.alter(table: "nodes") { t in
                t.add(column: "certificate_serial", .text)
                t.add(column: "certificate_expires_at", .datetime)
            }
            // Certificates no peer may accept any more (a removed node's, a replaced one): kept
            // until they expire, handed to followers with every heartbeat answer.
            try db.create(table: "revoked_certificates") { t in
                t.primaryKey("serial", .text)
                t.column("node_name", .text).notNull()
                t.column("expires_at", .datetime).notNull().indexed()
                t.column("revoked_at", .datetime).notNull()
            }
        }
        migrator.registerMigration("v6: pull policy and fallback warnings") { db in
            // The policy of the last request for the image (`ferry install|fetch --pull`), and the
            // warning of a fetch that used the held digest because the upstream did not answer.
            try db.alter(table: "images") { t in
                t.add(column: "pull_policy", .text).notNull().defaults(to: "fallback")
                t.add(column: "warning", .text)
            }
            // Warnings of the install's images, kept with the install (newline-separated).
            try db.alter(table: "installs") { t in t.add(column: "warnings", .text) }
        }
        migrator.registerMigration("v7: install targets that have had a resolution") { db in
            // Whether the target's image has had a resolution since the target was created: a
            // later install's failed resolution of the same tag fails only the targets without.
            // A target whose image is resolved now has had one; one whose image is being resolved
            // again (or failed) is taken as waiting for it, as before this column.
            try db.alter(table: "install_targets") { t in t.add(column: "resolved", .boolean).notNull().defaults(to: false) }
            try db.execute(sql: "UPDATE install_targets SET resolved = 1 WHERE image_id IN (SELECT id FROM images WHERE state IN ('fetching', 'present'))")
        }
        migrator.registerMigration("v8: load slot leases") { db in
            // When each target took its load slot, and how often a slot it held past its lease was
            // taken back. A target loading at the upgrade starts its lease then (nil counts as now).
            try db.alter(table: "install_targets") { t in
                t.add(column: "load_granted_at", .datetime)
                t.add(column: "load_lapses", .integer).notNull().defaults(to: 0)
            }
        }
        migrator.registerMigration("v9: load slot leases count only the time a slot is held") { db in
            // Since when a node with a lease has held no slot in the install. A lease that runs at
            // the upgrade goes on as before until the first housekeeping after it. Leases now cover
            // a node's finished targets too: the grants v8 left on them (v8 forgot nothing there)
            // are forgotten, or a node's next image would lapse at once.
            try db.alter(table: "install_targets") { t in t.add(column: "load_paused_at", .datetime) }
            try db.execute(sql: "UPDATE install_targets SET load_granted_at = NULL WHERE state IN ('done', 'failed')")
        }
        migrator.registerMigration("v10: a join's proof, until its credential is used") { db in
            // The sha256 of the proof a node's last join carried, kept until the node uses the
            // credential that join gave (its next heartbeat clears it). Nodes of an earlier release
            // have none: they used their credential.
            try db.alter(table: "nodes") { t in t.add(column: "join_proof_hash", .text) }
        }
        return migrator
    }
}
