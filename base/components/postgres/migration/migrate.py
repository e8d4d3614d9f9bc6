"""Fetch the working_dir zip that this revision's serve config names, and migrate the database with it.

    WORKING_DIR_URL=https://…/apps-<hash>.zip DB_CONFIG='{…}' python migrate.py [WORKDIR]
    AANA_APPS=apps.x.app:aana_app …                # also runs `aana migrate` for each Aana app

The Argo CD Sync hook in migration-job.yaml runs it with the environment's raygitops-env
ConfigMap (DB_CONFIG, WORKING_DIR_URL, AANA_APPS) and the aana-db password, so the migration runs the
code and settings that the RayService is about to roll out. Standard library only: it runs
in the Ray image, before any of the apps' code is on disk.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

# tools/raygitops/workingdir.py puts apps/ under this single top-level directory of the zip.
TOP_DIR = "working_dir"
COMMAND = ("-m", "apps.db", "migrate")
# The Aana apps (module:AanaSDK, space-separated), from the raygitops-env ConfigMap; the aana CLI as
# tools/raygitops/generate/aana_build.py runs it (`python -m aana.cli` has no __main__ guard).
AANA_APPS = "AANA_APPS"
AANA_CLI = "from aana.cli import cli; cli(prog_name='aana')"
FETCH_TIMEOUT_S = 120


def main(argv: list[str]) -> int:
    url = os.environ.get("WORKING_DIR_URL", "")
    if not url:
        print("migrate: WORKING_DIR_URL is not set (it comes from the raygitops-env ConfigMap)", file=sys.stderr)
        return 2
    aana_apps = os.environ.get(AANA_APPS, "").split()
    if aana_apps and importlib.util.find_spec("aana") is None:
        # Checked first, so nothing is half-migrated: the plain rayproject/ray image has no Aana.
        print(f"migrate: this image has no Aana, so it cannot run `aana migrate` for {' '.join(aana_apps)} (nor "
              "serve those apps): set images.ray-image in raygitops.yaml to an image with requirements-aana.txt "
              "installed (rayproject/ray has none)", file=sys.stderr)
        return 2
    workdir = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="raygitops-migrate-")
    archive = os.path.join(workdir, "working_dir.zip")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        with zipfile.ZipFile(archive) as package:
            package.extractall(workdir)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        print(f"migrate: cannot fetch and unpack {url}: {err}", file=sys.stderr)
        return 1
    code_dir = os.path.join(workdir, TOP_DIR)
    if not os.path.isdir(os.path.join(code_dir, "apps")):
        print(f"migrate: {url} has no {TOP_DIR}/apps/ (is it a tools/regen working_dir zip?)", file=sys.stderr)
        return 1
    print(f"migrate: python {' '.join(COMMAND)} from {url}", flush=True)
    # `python -m` puts the current directory first on sys.path, so `apps` is the unpacked one.
    code = subprocess.call([sys.executable, *COMMAND], cwd=code_dir)
    if code != 0:
        return code
    # Aana's own migrations (Alembic), through its own command, for each Aana app tools/regen lists.
    # TMP_DATA_DIR names the replicas' shared volume, which this Job does not mount: importing Aana
    # creates that directory, so the Job's gets one in its work directory.
    aana_env = {**os.environ, "TMP_DATA_DIR": os.path.join(workdir, "aana_data")}
    for app in aana_apps:
        print(f"migrate: aana migrate {app}", flush=True)
        code = subprocess.call([sys.executable, "-c", AANA_CLI, "migrate", app], cwd=code_dir, env=aana_env)
        if code != 0:
            print(f"migrate: aana migrate {app} failed (exit {code})", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
