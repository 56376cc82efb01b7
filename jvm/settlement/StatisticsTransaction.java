package settlement;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.classic.SparkSession;
import org.apache.spark.sql.delta.DeltaLog;
import org.apache.spark.sql.delta.DeltaOperations;
import org.apache.spark.sql.delta.OptimisticTransaction;
import org.apache.spark.sql.delta.actions.Action;
import org.apache.spark.sql.delta.actions.AddFile;
import org.apache.spark.sql.delta.actions.FileAction;
import org.apache.spark.sql.delta.actions.SetTransaction;
import scala.Option;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * One Delta transaction over the statistics rows of some approval dates (settlement/statistics.py
 * calls it): the files holding them are read, their rows given back, and rows written in their
 * place, under a transaction id.
 *
 * <p>What the stream's MERGE of a batch's totals did, without its steps that a small partition
 * does not need (the source materialized, a join to find the files, another to rewrite them), and
 * with the rows it writes in the caller's hands, so what changed is published without reading the
 * table back. The read is recorded in the transaction: a concurrent commit touching those dates
 * (a backfill's recount, a compaction) conflicts with this one, as it would with the MERGE, and
 * so does a concurrent commit under the same application id.
 */
public final class StatisticsTransaction {
    private final SparkSession spark;
    private final OptimisticTransaction transaction;
    private final String condition;
    private final Seq<AddFile> files;
    private final String appId;
    private final long version;

    private StatisticsTransaction(SparkSession spark, OptimisticTransaction transaction, String condition,
                                  Seq<AddFile> files, String appId, long version) {
        this.spark = spark;
        this.transaction = transaction;
        this.condition = condition;
        this.files = files;
        this.appId = appId;
        this.version = version;
    }

    /** A transaction at the table's latest version, having read the files that `condition` (on partition columns) names. */
    public static StatisticsTransaction start(SparkSession spark, String path, String condition, String appId,
                                              long version) {
        return in(spark, () -> {
            OptimisticTransaction transaction = DeltaLog.forTable(spark, path)
                .startTransaction(Option.empty(), Option.empty());
            // Resolved against the table's columns, over no files: planning a scan of the table
            // would list its files once more.
            Seq<AddFile> none = CollectionConverters.asScala(List.<AddFile>of()).toSeq();
            Filter filter = (Filter) transaction.deltaLog()
                .createDataFrame(transaction.snapshot(), none, false, Option.empty())
                .where(condition).queryExecution().analyzed();
            Seq<Expression> read = CollectionConverters.asScala(List.of(filter.condition())).toSeq();
            return new StatisticsTransaction(spark, transaction, condition, transaction.filterFiles(read, false),
                appId, version);
        });
    }

    /** Whether a write of this application id at this version or later is in the table already. */
    public boolean applied() {
        return transaction.txnVersion(appId) >= version;
    }

    /** The rows of the files read, as of the transaction's version. */
    public Dataset<Row> held() {
        return in(spark, () -> transaction.deltaLog().createDataFrame(
            transaction.snapshot(), files, false, Option.empty()));
    }

    /** Writes `rows` in place of the files read, under the transaction id; the version committed. */
    public long commit(Dataset<Row> rows) {
        return in(spark, () -> {
            List<Action> actions = new ArrayList<>();
            for (FileAction written : CollectionConverters.asJava(transaction.writeFiles(rows))) {
                actions.add(written);
            }
            long now = System.currentTimeMillis();
            for (AddFile file : CollectionConverters.asJava(files)) {
                actions.add(file.removeWithTimestamp(now, true));
            }
            actions.add(new SetTransaction(appId, version, Option.apply(now)));
            Option<String> none = Option.empty();
            return transaction.commit(CollectionConverters.asScala(actions).toSeq(), new DeltaOperations.Write(
                SaveMode.Overwrite, Option.empty(), Option.apply(condition), none, Option.empty(), Option.empty(),
                Option.empty(), none, none));
        });
    }

    // Delta's transaction reads its settings (the batch's mark among them) from the thread's active session.
    private static <T> T in(SparkSession spark, Supplier<T> work) {
        Option<SparkSession> previous = SparkSession.getActiveSession();
        SparkSession.setActiveSession(spark);
        try {
            return work.get();
        } finally {
            if (previous.isDefined()) {
                SparkSession.setActiveSession(previous.get());
            } else {
                SparkSession.clearActiveSession();
            }
        }
    }
}
