# frozen_string_literal: true

# The child the broker starts for Ruby steps: `ruby {sdk}/runner.rb` (SPEC §9). The
# core (lib/motiad.rb) and every part beyond it; step files may `require 'motiad'`.

$LOAD_PATH.unshift(File.join(__dir__, 'lib'))
require 'motiad'
require 'motiad/bounded_lines'
require 'motiad/checks'
require 'motiad/http_streams'
require 'motiad/record'

Motiad.main
