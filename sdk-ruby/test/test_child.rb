# frozen_string_literal: true

# The Ruby SDK's own behaviour, on real children: what the conformance checker
# (motiad conformance --sdk ruby) does not look at.

require 'minitest/autorun'
require 'tmpdir'
require_relative 'child_harness'

class TestChild < Minitest::Test
  def with_step(source, argv: [ChildHarness::RUNNER])
    Dir.mktmpdir do |project|
      path = File.join(project, 'probe_step.rb')
      File.write(path, source)
      child = ChildHarness.new(project, argv: argv)
      begin
        entry = child.initialize_child(1 << 20, [path])['steps'].first
        yield child, path, entry
      ensure
        child.close
      end
    end
  end

  def test_the_core_alone_serves_a_handler_that_emits_sets_state_and_logs
    source = <<~RUBY
      def config = { name: 'Core', type: 'event', subscribes: ['t'] }
      def handler(input, ctx)
        ctx.logger.info('core', { 'n' => input['n'] })
        ctx.state.set('g', 'k', input)
        ctx.emit({ topic: 'done', data: input })
      end
    RUBY
    with_step(source, argv: ChildHarness::CORE) do |child, path, _entry|
      calls = []
      services = { 'state.set' => ->(p) { calls << p and p['value'] }, 'emit' => ->(p) { calls << p and { 'eventId' => 'e1' } } }
      answer, logs = child.invoke(path, { 'n' => 1 }, services: services)
      assert_nil answer.fetch('result')
      assert_equal [%w[state.set inv-1], %w[emit inv-1]], calls.map { |p| [p.key?('key') ? 'state.set' : 'emit', p['invocationId']] }
      assert_equal({ 'topic' => 'done', 'data' => { 'n' => 1 }, 'invocationId' => 'inv-1' }, calls.last)
      assert_equal [{ 'level' => 'info', 'message' => 'core', 'invocationId' => 'inv-1', 'fields' => { 'n' => 1 } }],
                   logs.map { |m| m['params'] }
    end
  end

  def test_an_api_handler_that_returns_no_status_fails_for_good
    source = "def config = { name: 'Api', type: 'api', path: '/x', method: 'GET' }\ndef handler(_req, _ctx) = { body: 1 }\n"
    with_step(source) do |child, path, _entry|
      answer, = child.invoke(path, {}, trigger: { 'type' => 'api' })
      assert_equal(-32_000, answer.dig('error', 'code'))
      assert_equal %w[InvalidApiResponse false], [answer.dig('error', 'data', 'type'), answer.dig('error', 'data', 'retryable').to_s]
    end
  end

  def test_the_handler_gets_the_invocations_traceparent
    # SPEC invoke.traceparent: handed over unchanged; null, absent or not a string is nil
    source = "def config = { name: 'Traced', type: 'api', path: '/t', method: 'GET' }\n" \
             "def handler(_req, ctx) = { status: 200, body: { 'traceparent' => ctx.traceparent } }\n"
    sent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    with_step(source) do |child, path, _entry|
      [[{ 'traceparent' => sent }, sent], [{ 'traceparent' => nil }, nil], [{ 'traceparent' => 7 }, nil], [{}, nil]].each do |extra, want|
        answer, = child.invoke(path, {}, trigger: { 'type' => 'api' }, extra: extra)
        assert_equal({ 'status' => 200, 'body' => { 'traceparent' => want } }, answer['result'], extra.inspect)
      end
    end
  end

  def test_a_base64_body_is_bytes_both_ways_and_a_refusal_is_the_answer
    source = <<~RUBY
      def config = { name: 'Bytes', type: 'api', path: '/b', method: 'POST' }
      def handler(req, _ctx)
        raise 'not bytes' unless req['body'].encoding == Encoding::BINARY && !req.key?('bodyEncoding')

        { status: 200, body: req['body'] * 2 }
      end
    RUBY
    with_step(source) do |child, path, _entry|
      answer, = child.invoke(path, { 'body' => 'AP8=', 'bodyEncoding' => 'base64' }, trigger: { 'type' => 'api' })
      assert_equal({ 'status' => 200, 'body' => 'AP8A/w==', 'bodyEncoding' => 'base64' }, answer['result'])
      refusal = { 'status' => 400, 'body' => { 'error' => 'bad body' } }
      answer, = child.invoke(path, { 'body' => {} }, trigger: { 'type' => 'api', 'refusal' => refusal })
      assert_equal refusal, answer['result']
    end
  end

  def test_values_read_by_string_symbol_and_method_and_motia_s_camel_case
    source = <<~RUBY
      def config = { name: 'Api', type: 'api', path: '/x/:id', method: 'GET' }
      def handler(req, _ctx) = { status: 200, body: [req['pathParams']['id'], req[:pathParams][:id], req.path_params.id] }
    RUBY
    with_step(source) do |child, path, _entry|
      answer, = child.invoke(path, { 'body' => nil, 'pathParams' => { 'id' => '7' } }, trigger: { 'type' => 'api' })
      assert_equal %w[7 7 7], answer.dig('result', 'body')
    end
  end

  def test_a_failure_names_the_user_s_class_and_starts_its_stack_at_user_code
    source = "def config = { name: 'E', type: 'event', subscribes: ['t'] }\nclass Oops < StandardError; end\n" \
             "def handler(_input, _ctx) = raise(Oops, 'bad')\n"
    with_step(source) do |child, path, _entry|
      answer, = child.invoke(path, nil)
      info = answer.dig('error', 'data')
      assert_equal %w[Oops bad true], [info['type'], info['message'], info['retryable'].to_s]
      assert_match(/probe_step\.rb:3/, info['stack'].lines.first)
      refute_match(%r{sdk-ruby/lib}, info['stack'])
    end
  end

  def test_a_step_file_that_does_not_load_is_an_entry_with_its_error_and_the_others_still_load
    with_step("def config = { name: 'Broken'\n") do |_child, path, entry|
      assert_equal path, entry['path']
      assert_equal %w[SyntaxError false], [entry.dig('error', 'type'), entry.dig('error', 'retryable').to_s]
    end
  end

  def test_log_fields_json_cannot_hold_are_sent_as_text
    source = "def config = { name: 'L', type: 'event', subscribes: ['t'] }\n" \
             "def handler(_input, ctx) = ctx.logger.warn('odd', { nan: Float::NAN, bytes: \"\\xff\", obj: Object })\n"
    with_step(source) do |child, path, _entry|
      _answer, logs = child.invoke(path, nil)
      assert_equal({ 'nan' => nil, 'bytes' => "\uFFFD", 'obj' => 'Object' }, logs.first.dig('params', 'fields'))
    end
  end
  def test_text_that_is_not_utf8_goes_out_as_u_fffd_in_results_logs_and_requests
    # SPEC `framing.utf8.replace`: an encoded lone surrogate (half an emoji: three bytes that are
    # not UTF-8, each shown as U+FFFD, as a UTF-8 decoder shows them) or a stray byte
    source = <<~'RUBY'
      def config = { name: 'Half', type: 'api', path: '/h', method: 'POST' }
      def handler(_req, ctx)
        half = [0xD83D].pack('U')
        ctx.logger.info("logged #{half}")
        ctx.state.set('g', 'k', { 'text' => half })
        { status: 200, body: { 'text' => "cut #{half}", "\xff".dup.force_encoding('UTF-8') => 'key' } }
      end
    RUBY
    with_step(source) do |child, path, _entry|
      stored = []
      answer, logs = child.invoke(path, {}, trigger: { 'type' => 'api' }, services: { 'state.set' => ->(p) { stored << p['value'] and p['value'] } })
      half = "\uFFFD" * 3
      assert_equal({ 'text' => "cut #{half}", "\uFFFD" => 'key' }, answer.dig('result', 'body'), answer)
      assert_equal [{ 'text' => half }], stored
      assert_equal ["logged #{half}"], logs.map { |m| m.dig('params', 'message') }
    end
  end

  def test_json_deeper_than_the_json_gems_default_of_100_levels_is_served
    # SPEC `invoke.sdk-failure`: JSON.parse and JSON.generate stop at 100 levels by default
    source = "def config = { name: 'Deep', type: 'event', subscribes: ['t'] }\ndef handler(input, ctx) = ctx.state.set('g', 'k', input)\n"
    with_step(source) do |child, path, _entry|
      deep = 600.times.reduce(1) { |inner, _| [inner] }
      stored = []
      answer, = child.invoke(path, deep, services: { 'state.set' => ->(p) { stored << p['value'] and p['value'] } })
      assert_nil answer.fetch('result')
      assert_equal [deep], stored
    end
  end
end
