# frozen_string_literal: true

require 'minitest/autorun'
require_relative '../scripts/size'

# The README states the SDK's size as measured, never by hand.
class TestSize < Minitest::Test
  def test_the_readme_size_table_is_measured
    text = File.read(Size::README)
    assert_equal Size.updated(text), text, 'README.md: the Size table is stale; run ruby scripts/size.rb'
  end
end
