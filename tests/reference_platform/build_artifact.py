"""Build the deployable artifact of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in services).

    python3 tests/reference_platform/build_artifact.py --out DIR [--version X]

writes DIR/apiha-reference-<version>.tar.gz (top-level directory apiha-reference-<version>/ holding apiha_reference/
and requirements.txt) and DIR/apiha-reference-<version>.tar.gz.sha256 (``<hex>  <filename>``), then prints one JSON
line ``{"artifact", "sha256", "version"}``. The archive is reproducible: sorted entries, fixed mtime, uid/gid 0,
no __pycache__, a gzip header without name or time. ``--version`` overrides ``__version__`` inside the archive only
(the lab deploys a "new release" that way to exercise a rolling deploy).
"""

import argparse
import gzip
import hashlib
import io
import json
import pathlib
import re
import sys
import tarfile

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE / "apiha_reference"
REQUIREMENTS = HERE / "requirements.txt"
MTIME = 315532800  # 1980-01-01T00:00:00Z
VERSION_RE = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)
VALID_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def package_version():
    m = VERSION_RE.search((PACKAGE / "__init__.py").read_text())
    if not m:
        raise SystemExit(f"{PACKAGE / '__init__.py'}: no __version__ line")
    return m.group(1)


def collect_files():
    """(relative name, bytes) of every file to ship, sorted; bytecode and caches are left out."""
    files = [("requirements.txt", REQUIREMENTS.read_bytes())]
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(HERE)
        if "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo") or not path.is_file():
            continue
        files.append((rel.as_posix(), path.read_bytes()))
    return sorted(files)


def _info(name, size=0, directory=False):
    ti = tarfile.TarInfo(name)
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    if directory:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    else:
        ti.size, ti.mode = size, 0o644
    return ti


def build(out_dir, version=None):
    version = version or package_version()
    if not VALID_VERSION.match(version):
        raise SystemExit(f"--version {version!r}: use letters, digits, '.', '+', '_' or '-'")
    top = f"apiha-reference-{version}"
    files = collect_files()
    if version != package_version():
        files = [
            (n, VERSION_RE.sub(f'__version__ = "{version}"', d.decode()).encode())
            if n == "apiha_reference/__init__.py"
            else (n, d)
            for n, d in files
        ]
    dirs = {top}
    for name, _data in files:
        parts = name.split("/")[:-1]
        dirs.update(f"{top}/" + "/".join(parts[: i + 1]) for i in range(len(parts)))
    entries = [(d, None) for d in dirs] + [(f"{top}/{n}", data) for n, data in files]
    entries.sort(key=lambda e: e[0])

    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name, data in entries:
            if data is None:
                tar.addfile(_info(name, directory=True))
            else:
                tar.addfile(_info(name, len(data)), io.BytesIO(data))
    blob = raw.getvalue()

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / f"{top}.tar.gz"
    artifact.write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    (out_dir / f"{artifact.name}.sha256").write_text(f"{digest}  {artifact.name}\n")
    return {"artifact": str(artifact), "sha256": digest, "version": version}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="directory for the .tar.gz and its .sha256")
    p.add_argument("--version", help="version written into the artifact (default: apiha_reference.__version__)")
    args = p.parse_args(argv)
    print(json.dumps(build(args.out, args.version)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
