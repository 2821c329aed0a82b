# oci-lib.sh - write an OCI image archive from a root directory, offline
# and reproducibly (fixed mtimes and owners, sorted names, gzip -n: the
# same tree gives the same digests), for `ctr images import`. Sourced by
# the build-*-image.sh scripts.
#
#   oci_image_archive ROOTFS CONFIG NAME OUT_TAR
#
# ROOTFS: the single layer's tree. CONFIG: the image config's "config"
# object as JSON (Env, Cmd, Entrypoint...). NAME: the
# io.containerd.image.name annotation that names the imported image (its
# tag, after the last ':', is org.opencontainers.image.ref.name). Writes
# OUT_TAR atomically (OUT_TAR.tmp, then a rename) and sets OCI_MANIFEST to
# the manifest's sha256 hex digest. Needs tar, gzip, sha256sum.

oci_image_archive() {
  local rootfs=$1 config_obj=$2 name=$3 out=$4
  local work oci diff_id layer layer_size config config_size manifest manifest_size
  work=$(mktemp -d)
  oci=$work/oci
  mkdir -p "$oci/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/layer.tar" .
  diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  gzip -n -9 "$work/layer.tar"
  read -r layer layer_size < <(oci_blob "$oci" "$work/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config_obj" "$diff_id" >"$work/config.json"
  read -r config config_size < <(oci_blob "$oci" "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
  read -r manifest manifest_size < <(oci_blob "$oci" "$work/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$name" "${name##*:}" >"$oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  mkdir -p "$(dirname "$out")"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$work"
  OCI_MANIFEST=$manifest
}

# oci_blob OCI_DIR FILE - put FILE in OCI_DIR's blobs; prints "digest size"
oci_blob() {
  local digest size
  digest=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  cp "$2" "$1/blobs/sha256/$digest"
  echo "$digest $size"
}
