# frozen_string_literal: true

# The line counts of README.md's "Size" table, measured: `ruby scripts/size.rb`
# rewrites them, `ruby scripts/size.rb --check` fails when one is stale (a test runs it).
# Lines as `wc -l` counts them; code lines are neither blank nor only a comment.

module Size
  ROOT = File.expand_path('..', __dir__)
  README = File.join(ROOT, 'README.md')
  ROW = /^\| (?<part>[^|]+) \| `(?<glob>[^`]+)`(?<what>[^|]*) \| (?<count>[^|]*) \|$/
  SUMMARY = /The core alone \(\d+ lines, \d+ of code/
  COUNTED = ['runner.rb', 'lib/**/*.rb', 'test/*.rb', 'scripts/*.rb'].freeze

  # [lines, code lines] of the files matching `glob`.
  def self.measure(glob)
    lines = Dir.glob(glob, base: ROOT).sort.flat_map { |file| File.readlines(File.join(ROOT, file)) }
    [lines.size, lines.count { |line| !line.strip.empty? && !line.strip.start_with?('#') }]
  end

  # The README with every count measured again; raises when a file has no row.
  def self.updated(text)
    core = [0, 0]
    globs = []
    text = text.gsub(ROW) do
      row = Regexp.last_match
      globs << row[:glob]
      total, code = measure(row[:glob])
      core = [core[0] + total, core[1] + code] if row[:part] == 'core'
      "| #{row[:part]} | `#{row[:glob]}`#{row[:what]} | #{total} (#{code}) |"
    end
    missing = Dir.glob(COUNTED, base: ROOT) - globs.flat_map { |glob| Dir.glob(glob, base: ROOT) }
    raise "README.md's Size table has no row for #{missing.sort.join(', ')}" unless missing.empty?

    text.sub(SUMMARY, "The core alone (#{core[0]} lines, #{core[1]} of code")
  end
end

if $PROGRAM_NAME == __FILE__
  text = File.read(Size::README)
  fresh = Size.updated(text)
  if ARGV == ['--check']
    abort 'README.md: the Size table is stale; run ruby scripts/size.rb' unless fresh == text
  else
    File.write(Size::README, fresh)
  end
end
