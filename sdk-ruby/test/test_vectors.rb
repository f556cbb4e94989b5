# frozen_string_literal: true

# The golden vectors of protocol/vectors/ against a running child (SPEC §10): lines
# addressed to the child (or either side) get the outcome their vector names; lines
# addressed to the broker are read as well-formed messages.

require 'base64'
require 'minitest/autorun'
require_relative 'child_harness'

VECTORS_DIR = File.expand_path('../../protocol/vectors', __dir__)
VECTOR_FILES = %w[valid.json invalid.json].map { |name| JSON.parse(File.read(File.join(VECTORS_DIR, name))) }
LIMIT = VECTOR_FILES.first['maxLineBytes']
# Answers that mean a line was refused as a message; an accepted one never gets them.
REFUSALS = [-32_700, -32_600, -32_601, -32_602, -32_005].freeze

def vector_line(vector)
  return JSON.generate(vector['message']) if vector.key?('message')
  return vector['text'] if vector.key?('text')
  return Base64.strict_decode64(vector['base64']) if vector.key?('base64')

  pattern = vector['pattern']
  fills = pattern['bytes'] - pattern['prefix'].bytesize - pattern['suffix'].bytesize
  pattern['prefix'] + (pattern['fill'] * fills) + pattern['suffix']
end

class TestGoldenVectors < Minitest::Test
  def self.shared
    @shared ||= ChildHarness.new.tap { |child| child.initialize_child(LIMIT) }
  end

  Minitest.after_run { @shared&.close }

  VECTOR_FILES.flat_map { |file| file['vectors'] }.each do |vector|
    define_method("test_#{vector['name']}") { run_vector(vector) }
  end

  def run_vector(vector)
    method = vector.dig('message', 'method') if vector['message'].is_a?(Hash)
    # a lone surrogate escape only the broker must refuse; a child MAY (SPEC `framing.utf8`)
    return if vector['to'] == 'broker' && vector['requirements'].include?('rpc.undecodable')
    return check_read_as_a_message(vector) if vector['to'] == 'broker'
    return run_alone(vector, method) if %w[initialize shutdown].include?(method)

    check(vector, exchange(self.class.shared, vector))
  end

  def exchange(child, vector)
    child.write(vector_line(vector))
    child.until_barrier
  end

  # initialize needs a child not yet initialized; shutdown ends the child.
  def run_alone(vector, method)
    child = ChildHarness.new
    if method == 'shutdown'
      child.initialize_child(LIMIT)
      child.write(vector_line(vector))
      assert_nil child.next_message.fetch('result'), 'shutdown answers null'
    else
      check(vector, exchange(child, vector))
    end
  ensure
    child&.close
  end

  def check(vector, answers)
    expect = vector['expect']
    case expect['outcome']
    when 'ignore' then assert_empty answers
    when 'accept'
      refused = answers.select { |answer| REFUSALS.include?(answer.dig('error', 'code')) }
      assert_empty refused, 'a valid line was refused'
    when 'error'
      assert_equal 1, answers.size, "one error answer expected: #{answers}"
      error = answers.first.fetch('error')
      assert_equal expect['code'], error['code'], error['message']
      expect['id'].nil? ? assert_nil(answers.first['id']) : assert_equal(expect['id'], answers.first['id'])
      assert_equal expect['dataPath'], error.dig('data', 'path') if expect['dataPath']
    else flunk "unknown outcome #{expect['outcome']}"
    end
  end

  # A child that receives what the broker receives still reads it as a message (a
  # request it serves or does not, -32601; a response it ignores), never a bad line.
  def check_read_as_a_message(vector)
    answers = exchange(self.class.shared, vector)
    bad = answers.select { |answer| (REFUSALS - [-32_601]).include?(answer.dig('error', 'code')) }
    assert_empty bad, 'read as a bad line'
  end
end
