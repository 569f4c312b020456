"""The project's reusable glue: environment reading, database helpers, the mail send helper
and outbox backend, static-file storage, the process supervisor and the task cluster's keeper."""
