//! Native fingerprints (filled in below).
