package settlement;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's file system for local paths (`fs.file.impl`, set by settlement/session.py), without a
 * process per file. Without Hadoop's native library, which pyspark does not bring, Hadoop runs
 * `chmod` for every file and folder it creates on a local disk, and `readlink` each time Delta's
 * log or Spark's checkpoint renames a file: some 40 processes a second under the bench's steady
 * load, each started from the driver's JVM while a task or the committing thread waits for it
 * (docs/performance.md). This one sets the same permissions through java.nio, and leaves links
 * to Hadoop.
 */
public class LocalFileSystem extends org.apache.hadoop.fs.LocalFileSystem {

  public LocalFileSystem() {
    super(new Raw());
  }

  /** The file system under the checksums; `LocalFs` serves it to Hadoop's FileContext too. */
  static final class Raw extends RawLocalFileSystem {

    @Override
    public void setPermission(Path path, FsPermission permission) throws IOException {
      String symbols = permission.getUserAction().SYMBOL
          + permission.getGroupAction().SYMBOL
          + permission.getOtherAction().SYMBOL;
      Files.setPosixFilePermissions(pathToFile(path).toPath(), PosixFilePermissions.fromString(symbols));
    }

    // Hadoop hands `readlink` the path with its scheme (file:/...), which it cannot read, so
    // for anything but a link the answer was always the file's status.
    @Override
    public FileStatus getFileLinkStatus(Path path) throws IOException {
      if (Files.isSymbolicLink(pathToFile(path).toPath())) {
        return super.getFileLinkStatus(path);
      }
      return getFileStatus(path);
    }
  }
}
