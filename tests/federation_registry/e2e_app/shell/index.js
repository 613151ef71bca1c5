// The async boundary webpack needs before shared modules are consumed.
import("./bootstrap");
