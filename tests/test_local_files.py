"""Local paths go through the project's file system (`jvm/settlement/LocalFileSystem.java`), for
Hadoop's FileSystem and its FileContext alike (Delta's log and Spark's checkpoint write through
the latter): files and folders get the permissions Hadoop's own file system gives them, a rename
replaces, and a file's or a link's status is the one Hadoop's own gives."""

from __future__ import annotations

import os
import stat

import pytest

from settlement.session import jvm


@pytest.fixture
def hadoop(spark):
    return jvm(spark), spark.sparkContext._jsc.hadoopConfiguration()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_session_uses_the_project_file_system_for_local_paths(hadoop):
    jvm, conf = hadoop
    fs = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf)
    assert fs.getClass().getName() == "settlement.LocalFileSystem"
    context = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(conf)
    assert context.getDefaultFileSystem().getClass().getName() == "settlement.LocalFs"


def test_permissions_are_those_of_hadoops_own_file_system(hadoop, tmp_path):
    jvm, conf = hadoop
    ours = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf)
    hadoops = jvm.org.apache.hadoop.fs.LocalFileSystem()
    hadoops.initialize(jvm.java.net.URI("file:///"), conf)
    Path = jvm.org.apache.hadoop.fs.Path
    for name, fs in (("ours", ours), ("hadoops", hadoops)):
        fs.mkdirs(Path(str(tmp_path / name / "folder")))
        fs.create(Path(str(tmp_path / name / "folder" / "file"))).close()
    for relative in ("folder", "folder/file", "folder/.file.crc"):
        assert mode(tmp_path / "ours" / relative) == mode(tmp_path / "hadoops" / relative), relative
    assert mode(tmp_path / "ours" / "folder") == 0o755
    assert mode(tmp_path / "ours" / "folder" / "file") == 0o644


def test_file_context_renames_over_a_file_and_answers_as_hadoops_own(spark, hadoop, tmp_path):
    jvm, conf = hadoop
    Path = jvm.org.apache.hadoop.fs.Path
    ours = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(conf)
    own = jvm.org.apache.hadoop.conf.Configuration(conf)
    own.set("fs.AbstractFileSystem.file.impl", "org.apache.hadoop.fs.local.LocalFs")
    hadoops = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(own)
    assert hadoops.getDefaultFileSystem().getClass().getName() == "org.apache.hadoop.fs.local.LocalFs"

    (tmp_path / "new").write_text("new")
    (tmp_path / "old").write_text("old")
    renames = spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    renames[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    ours.rename(Path(f"file://{tmp_path / 'new'}"), Path(f"file://{tmp_path / 'old'}"), renames)
    assert (tmp_path / "old").read_text() == "new" and not (tmp_path / "new").exists()

    os.symlink(tmp_path / "old", tmp_path / "link")
    for name in ("old", "link"):
        path = Path(f"file://{tmp_path / name}")
        answers = [context.getFileLinkStatus(path) for context in (ours, hadoops)]
        assert [(a.isSymlink(), a.isFile(), a.getLen(), a.getPath().toString()) for a in answers] == [
            (answers[1].isSymlink(), True, 3, f"file:{tmp_path / name}")
        ] * 2, name
