# frozen_string_literal: true

# Streamed HTTP in the Ruby SDK, on a real child: the request body read with
# `http.read` (SPEC `http.body-stream`) and the response written with
# `http.write` (`http.stream`), each call blocking until it is answered.

require 'minitest/autorun'
require 'tmpdir'
require_relative 'child_harness'

class TestHttpStreams < Minitest::Test
  SOURCE = <<~RUBY
    def config = { name: 'Body', type: 'api', path: '/body', method: 'POST', streamBody: true }
    def handler(_req, ctx)
      response = ctx.stream_response(202, { 'x-kind' => 'sizes' })
      total = 0
      begin
        ctx.body_stream.each do |chunk|
          total += chunk.bytesize
          response.write("\#{chunk.bytesize}\\n")
        end
      rescue Motiad::BodyStreamError => e
        response.write("cut: \#{e.message}\\n")
      end
      { status: 200, body: { total: total } }
    end
  RUBY
  INPUT = { 'method' => 'POST', 'path' => '/body', 'body' => nil, 'bodyStream' => true }.freeze

  def run_body(answers)
    Dir.mktmpdir do |project|
      path = File.join(project, 'body_step.rb')
      File.write(path, SOURCE)
      child = ChildHarness.new(project)
      begin
        child.initialize_child(1 << 20, [path])
        writes = []
        reads = answers.dup
        services = {
          'http.read' => ->(_p) { reads.shift || raise('http.read after the end of the body') },
          'http.write' => ->(p) { writes << p and nil }
        }
        answer, = child.invoke(path, INPUT, trigger: { 'type' => 'api' }, services: services)
        return [writes, answer]
      ensure
        child.close
      end
    end
  end

  def piece(text, done: false) = { 'chunk' => [text].pack('m0'), 'done' => done }

  def test_a_body_is_read_piece_by_piece_and_the_response_sends_its_head_first
    writes, answer = run_body([piece('abc'), piece('xxxxx'), piece('', done: true)])
    assert_equal ["3\n", "5\n"], writes.map { |w| w['chunk'].unpack1('m0') }
    assert_equal [202, { 'x-kind' => 'sizes' }], [writes[0]['status'], writes[0]['headers']]
    refute writes[1].key?('status')
    assert_equal({ 'status' => 200, 'body' => { 'total' => 8 } }, answer['result'])
  end

  def test_a_body_cut_short_raises_a_body_stream_error_with_the_reason
    cut = { 'chunk' => '', 'done' => true, 'error' => 'the client closed the connection' }
    writes, answer = run_body([piece('ab'), cut])
    assert_equal ["2\n", "cut: the client closed the connection\n"], writes.map { |w| w['chunk'].unpack1('m0') }
    assert_equal({ 'status' => 200, 'body' => { 'total' => 2 } }, answer['result'])
  end
end
