package settlement;

import java.io.IOException;
import java.time.DateTimeException;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Validation's fast path (settlement/fast_path.py makes the spec and calls it): a Kafka record
 * whose value is a plain PAYMENT message becomes its parsed message; any other record, null.
 *
 * <p>The spec, derived in Python from the contract's pydantic models, names each field's alias,
 * kind and bounds. Plain means: UTF-8 key and value, the value one JSON object starting at its
 * first byte with nothing after it, no escape sequence, no duplicate name, `data` an object, and
 * every other value a string, a long, a boolean or null. Whatever falls outside is left to
 * pydantic, which decides and names the reason; so this only has to accept what the models
 * accept, with the same values, and it never rejects.
 *
 * <p>In Java: pydantic spends some 28 microseconds a record in the Python workers, with the Arrow
 * conversions on either side; this, a few.
 */
public final class PlainMessage implements UDF2<byte[], byte[], Row> {
    private static final JsonFactory JSON = JsonFactory.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .build();

    private final Map<String, Field> top = new HashMap<>();
    private final Map<String, Field> data = new HashMap<>();
    private final String dataName;
    private final int width;

    /** The UDF as a column of the parsed message type, from the spec and that type's JSON. */
    public static Column column(String spec, String parsedType, Column key, Column value) throws IOException {
        StructType type = (StructType) DataType.fromJson(parsedType);
        UserDefinedFunction udf = functions.udf(new PlainMessage(spec, type.size()), type);
        return udf.apply(key, value);
    }

    /** The spec's fields are the first of the parsed type's `width`, in order; the rest stay null. */
    PlainMessage(String spec, int width) throws IOException {
        JsonNode root = new ObjectMapper().readTree(spec);
        int position = 0;
        for (JsonNode field : root.get("top")) {
            top.put(field.get("alias").asText(), new Field(field, position++));
        }
        dataName = root.get("data").asText();
        for (JsonNode field : root.get("fields")) {
            data.put(field.get("alias").asText(), new Field(field, position++));
        }
        if (position > width) {
            throw new IllegalArgumentException("the spec has more fields than the parsed type");
        }
        this.width = width;
    }

    @Override
    public Row call(byte[] key, byte[] value) {
        if (value == null || value.length == 0 || value[0] != '{' || (key != null && !utf8(key)) || !utf8(value)) {
            return null;
        }
        for (byte b : value) {
            if (b == '\\') {
                return null;
            }
        }
        Object[] parsed = new Object[width];
        try (JsonParser parser = JSON.createParser(value)) {
            parser.nextToken();
            boolean[] seen = new boolean[width];
            boolean sawData = false;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken token = parser.nextToken();
                if (name.equals(dataName)) {
                    if (token != JsonToken.START_OBJECT || !members(parser, parsed, seen)) {
                        return null;
                    }
                    sawData = true;
                } else if (!member(top.get(name), parser, token, parsed, seen)) {
                    return null;
                }
            }
            if (!sawData || parser.nextToken() != null || !complete(top, parsed, seen) || !complete(data, parsed, seen)) {
                return null;
            }
        } catch (IOException | RuntimeException notPlain) {
            return null;
        }
        return RowFactory.create(parsed);
    }

    private boolean members(JsonParser parser, Object[] parsed, boolean[] seen) throws IOException {
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            Field field = data.get(parser.currentName());
            if (!member(field, parser, parser.nextToken(), parsed, seen)) {
                return false;
            }
        }
        return true;
    }

    /** A known field's value into its place, or an unknown field's value let pass if it is scalar. */
    private static boolean member(Field field, JsonParser parser, JsonToken token, Object[] parsed, boolean[] seen)
            throws IOException {
        if (field == null) {
            return switch (token) {
                case VALUE_STRING, VALUE_TRUE, VALUE_FALSE, VALUE_NULL -> true;
                case VALUE_NUMBER_INT -> parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER;
                default -> false;
            };
        }
        Object value = field.read(parser, token);
        if (value == null && !(token == JsonToken.VALUE_NULL && field.nullable)) {
            return false;
        }
        parsed[field.position] = value;
        seen[field.position] = true;
        return true;
    }

    /** Fields not sent take their default, if they have one. */
    private static boolean complete(Map<String, Field> fields, Object[] parsed, boolean[] seen) {
        for (Field field : fields.values()) {
            if (!seen[field.position]) {
                if (field.required) {
                    return false;
                }
                parsed[field.position] = field.absent;
            }
        }
        return true;
    }

    private static boolean utf8(byte[] bytes) {
        return UTF8String.fromBytes(bytes).isValid();  // what Spark's is_valid_utf8 asks
    }

    /** One field of the spec: where its value goes, and what is accepted for it. */
    private static final class Field implements java.io.Serializable {
        final int position;
        final String kind;
        final boolean required;
        final boolean nullable;
        final Object absent;
        final long min;
        final long max;
        final Set<String> values = new HashSet<>();
        final Pattern pattern;

        Field(JsonNode spec, int position) {
            this.position = position;
            kind = spec.get("kind").asText();
            required = spec.get("required").asBoolean();
            nullable = spec.get("nullable").asBoolean();
            min = spec.path("min").asLong(Long.MIN_VALUE);
            max = spec.path("max").asLong(Long.MAX_VALUE);
            spec.path("values").forEach(value -> values.add(value.asText()));
            pattern = spec.has("pattern") ? Pattern.compile(spec.get("pattern").asText()) : null;
            JsonNode absentValue = spec.path("default");
            absent = absentValue.isBoolean() ? (Object) absentValue.asBoolean()
                : absentValue.isTextual() ? absentValue.asText() : null;
            if (!required && !absentValue.isMissingNode() && !absentValue.isNull() && absent == null) {
                throw new IllegalArgumentException("a default the fast path cannot give: " + spec);
            }
        }

        /** The value for this field, or null if the token is not one the field accepts. */
        Object read(JsonParser parser, JsonToken token) throws IOException {
            switch (kind) {
                case "string": {
                    if (token != JsonToken.VALUE_STRING) {
                        return null;
                    }
                    String text = parser.getText();
                    int length = text.codePointCount(0, text.length());
                    return length >= min && length <= max ? text : null;
                }
                case "enum": {
                    String text = token == JsonToken.VALUE_STRING ? parser.getText() : null;
                    return values.contains(text) ? text : null;
                }
                case "integer": {
                    if (token != JsonToken.VALUE_NUMBER_INT || parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                        return null;
                    }
                    long number = parser.getLongValue();
                    return number >= min && number <= max ? number : null;
                }
                case "boolean": {
                    return token == JsonToken.VALUE_TRUE ? Boolean.TRUE : token == JsonToken.VALUE_FALSE ? Boolean.FALSE : null;
                }
                case "local_date_time":
                    return token == JsonToken.VALUE_STRING ? localDateTime(parser.getText()) : null;
                case "iso_date":
                    return token == JsonToken.VALUE_STRING ? isoDate(parser.getText()) : null;
                default:
                    throw new IllegalArgumentException("a field kind the fast path does not know: " + kind);
            }
        }

        /** contract.local_date_time: the pattern, a real time from year 1, the fraction cut to microseconds. */
        private LocalDateTime localDateTime(String text) {
            Matcher match = pattern.matcher(text);
            if (!match.matches()) {
                return null;
            }
            int micros = 0;
            int start = match.start(2);
            for (int digit = 0; digit < 6; digit++) {
                boolean given = start >= 0 && start + digit < match.end(2);
                micros = micros * 10 + (given ? text.charAt(start + digit) - '0' : 0);
            }
            LocalDate date = date(text);
            try {
                return date == null ? null
                    : date.atTime(number(text, 11, 13), number(text, 14, 16), number(text, 17, 19), micros * 1000);
            } catch (DateTimeException notATime) {
                return null;
            }
        }

        /** contract.iso_date: `YYYY-MM-DD`, a real date from year 1. */
        private LocalDate isoDate(String text) {
            if (!pattern.matcher(text).matches()) {
                return null;
            }
            return date(text);
        }

        /** The date at the start of a text the pattern matched, if it is a real date from year 1. */
        private static LocalDate date(String text) {
            int year = number(text, 0, 4);
            try {
                return year >= 1 ? LocalDate.of(year, number(text, 5, 7), number(text, 8, 10)) : null;
            } catch (DateTimeException notADate) {
                return null;
            }
        }

        /** The ASCII digits of text[from, to) (the pattern made them digits). */
        private static int number(String text, int from, int to) {
            int number = 0;
            for (int at = from; at < to; at++) {
                number = number * 10 + text.charAt(at) - '0';
            }
            return number;
        }
    }
}
