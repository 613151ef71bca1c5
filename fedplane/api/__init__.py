"""The API kit every app uses: envelope, errors, pagination, auth, throttling, audit."""
