"""Regional artifact stores: where each region keeps its models' artifacts (fsspec URLs).

- `store.py`: a store (reads, atomic writes, verified copies into it);
- `copying.py`: copies into local stores, read back while the next part is copied;
- `s3.py`: S3-compatible stores: settings, multipart uploads with checksums that resume;
- `roots.py`: REGIONS_STORE_ALLOWED_ROOTS, checked for a store URL and every path;
- `errors.py`: the store's failures as domain errors (credentials, no bucket, disk full, I/O).
"""
from .copying import CopyResult
from .errors import StoreFull, StoreUnavailable
from .roots import InvalidKey, default_store_url, store_url_error
from .store import Staged, Store, StoredObject, register_plugins, store_for

__all__ = ["StoredObject", "Staged", "Store", "store_for", "default_store_url", "register_plugins", "CopyResult",
           "store_url_error", "InvalidKey", "StoreUnavailable", "StoreFull"]
