"""The pure parts of issue 12: where a path really leads, what a failed write says, what the zip packs."""
from __future__ import annotations

import errno
import os
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from raygitops.errors import UserError
from raygitops.generate.workingdir import build_package
from raygitops.generate.writes import write_error
from raygitops.safepath import escaping_link, writable_path


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "repo/overlays/dev/generated").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return tmp_path / "repo"


def test_a_plain_path_and_a_link_that_stays_inside_are_writable(root):
    assert writable_path(root, "overlays/dev/generated/x.yaml") == root / "overlays/dev/generated/x.yaml"
    (root / "overlays/qa").symlink_to("dev")
    assert writable_path(root, root / "overlays/qa/generated/x.yaml") == root / "overlays/qa/generated/x.yaml"


@pytest.mark.parametrize("link", ["overlays/dev/generated", "overlays/dev/generated/x.yaml", "overlays"])
def test_the_first_link_out_of_the_repository_is_named(root, link):
    target = root.parent / "outside"
    if link != "overlays/dev/generated/x.yaml":
        os.rename(root / link, root.parent / f"moved-{link.replace('/', '-')}")
    (root / link).symlink_to(target)
    with pytest.raises(UserError) as caught:
        writable_path(root, "overlays/dev/generated/x.yaml")
    assert caught.value.file == link
    assert str(caught.value).startswith(f"{link}: a symbolic link to {target}, outside the repository")


def test_a_link_to_a_link_out_is_caught_at_the_first_link(root):
    (root / "inner").symlink_to(root.parent / "outside")
    (root / "overlays/dev/generated/x.yaml").symlink_to("../../../inner/x.yaml")
    assert escaping_link(root / "overlays/dev/generated/x.yaml", root) == root / "overlays/dev/generated/x.yaml"


@pytest.mark.parametrize("path", ["../outside/x", "overlays/../../outside/x", "/etc/passwd"])
def test_a_path_that_leaves_by_name_is_refused(root, path):
    with pytest.raises(UserError, match="repository"):
        writable_path(root, path)


def test_run_and_build_may_live_elsewhere_but_not_what_is_below_them(root):
    (root / ".run").symlink_to(root.parent / "outside")
    assert writable_path(root, ".run/regen.lock") == root / ".run/regen.lock"
    (root.parent / "outside/render-cache").symlink_to("/tmp")
    with pytest.raises(UserError) as caught:
        writable_path(root, ".run/render-cache/x.yaml")
    assert caught.value.file == ".run/render-cache" and "outside .run/" in caught.value.message


@pytest.mark.parametrize("code, words, fix", [
    (errno.ENOSPC, "no space left on the device", "free disk space"),
    (errno.EDQUOT, "disk quota exceeded", "free space within your quota"),
    (errno.EROFS, "read-only file system", "writable checkout"),
    (errno.EPERM, "operation not permitted", "chattr -i"),
    (errno.EACCES, "permission denied", "writable for this user"),
    (errno.EISDIR, "a directory stands where a file is written", "move or delete that directory"),
])
def test_a_failed_write_names_the_file_and_the_fix(root, code, words, fix):
    target = root / "overlays/dev/generated/x.yaml"
    error = write_error(root, target, OSError(code, os.strerror(code), str(target) + ".regen-tmp"))
    assert error.file == "overlays/dev/generated/x.yaml"
    assert error.message == f"{words} (nothing was changed)" and fix in error.fix
    assert "readable file" not in str(error)


def test_a_file_where_a_directory_is_needed_is_the_file_named(root):
    (root / "build").write_text("")
    blocked = NotADirectoryError(errno.ENOTDIR, "Not a directory")
    error = write_error(root, root / "build/working_dir/apps-x.zip", blocked)
    assert (error.file, error.fix) == ("build", "move or delete that file")


def _names(root: Path) -> list[str]:
    return zipfile.ZipFile(BytesIO(build_package(root).content)).namelist()


def test_the_zip_packs_a_link_to_a_file_inside_apps_as_that_file(root):
    (root / "apps").mkdir()
    (root / "apps/main.py").write_text("app = 1\n")
    (root / "apps/alias.py").symlink_to("main.py")
    archive = zipfile.ZipFile(BytesIO(build_package(root).content))
    assert archive.read("working_dir/apps/alias.py") == b"app = 1\n"


@pytest.mark.parametrize("make, what", [
    (lambda apps, outside: (apps / "leak.txt").symlink_to(outside / "environ"), "outside apps/"),
    (lambda apps, outside: (apps / "leak.txt").symlink_to("/proc/self/environ"), "outside apps/"),
    (lambda apps, outside: (apps / "leak.txt").symlink_to("../../outside/gone"), "outside apps/"),
    (lambda apps, outside: (apps / "leak.txt").symlink_to("gone.py"), "dangling"),
    (lambda apps, outside: (apps / "leak.txt").symlink_to("sub", target_is_directory=True), "to a directory"),
    (lambda apps, outside: os.mkfifo(apps / "leak.txt"), "not a regular file"),
])
def test_the_zip_refuses_any_other_link_or_special_file_by_name(root, make, what):
    apps, outside = root / "apps", root.parent / "outside"
    (apps / "sub").mkdir(parents=True)
    (outside / "environ").write_text("SECRET=1\n")
    make(apps, outside)
    with pytest.raises(UserError) as caught:
        build_package(root)
    assert caught.value.file == "apps/leak.txt" and what in caught.value.message, caught.value.message
    assert "SECRET" not in str(caught.value)


def test_apps_itself_linked_out_is_refused(root):
    (root.parent / "outside/apps").mkdir()
    (root / "apps").symlink_to(root.parent / "outside/apps")
    with pytest.raises(UserError) as caught:
        build_package(root)
    assert caught.value.file == "apps"


def test_an_app_module_reached_through_a_link_out_of_apps_is_refused_before_import(root):
    from raygitops.config import AppSpec
    from raygitops.generate.serve_schema import refuse_code_outside_apps
    (root / "apps").mkdir()
    (root.parent / "outside/pkg").mkdir()
    (root.parent / "outside/pkg/mod.py").write_text("app = 1\n")
    (root / "apps/pkg").symlink_to(root.parent / "outside/pkg")
    apps = [AppSpec("x", "apps.pkg.mod:app", "/x", line=7)]
    with pytest.raises(UserError) as caught:
        refuse_code_outside_apps(root, apps, (), "raygitops.yaml")
    assert (caught.value.file, caught.value.line) == ("raygitops.yaml", 7)
    assert "reaches apps/pkg, a symbolic link to" in caught.value.message
    refuse_code_outside_apps(root, [AppSpec("y", "aana.sdk:app", "/y")], ("aana",), "raygitops.yaml")   # listed
