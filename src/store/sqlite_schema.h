/* sqlite_schema — the schema of the SQLite store and its migrations (internal to src/store). */
#ifndef LT_STORE_SQLITE_SCHEMA_H
#define LT_STORE_SQLITE_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

/* The schema version this program writes (the number of migrations it knows). */
int sqlite_schema_current(void);

/* Brings the database on db up to sqlite_schema_current(), each migration in its own
 * transaction. Fails (returns -1, ASCII reason in err) when the database was written by a newer
 * program or a migration fails; 0 on success. */
int sqlite_schema_migrate(sqlite3 *db, char *err, size_t err_len);

#endif
